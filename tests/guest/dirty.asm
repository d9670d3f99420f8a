; migshaper test guest: a small multiboot image that dirties memory at a
; controlled rate.  Assemble with:  nasm -f bin -o dirty.bin dirty.asm
;
; What it does (see tests/guest/README.md for the full description):
;   1. QEMU's multiboot loader (-kernel, libvirt <kernel>) loads the image
;      at 1 MiB and enters it in 32-bit protected mode; it copies itself to
;      0x7C00, loads its own GDT, remaps the 8259 PIC to vectors 0x20-0x2f
;      (only IRQ0 unmasked), programs PIT channel 0 to ~1 kHz and builds an
;      IDT;
;   2. warm-up: increment one byte in every 4 KiB page of [start, end);
;   3. print "\nR\n" on COM1 (tests wait for a line "R");
;   4. loop forever: every `ticks` TSC ticks (rdtsc deadline) increment one
;      byte in the next `pages * mult` pages of [start, end), wrapping around.
;      Between deadlines the CPU sleeps in `sti; hlt` and is woken by the PIT.
;
; Why multiboot, not a floppy boot sector: under kvm_pvm SeaBIOS's floppy
; read times out on some machines in most boots (each retry costs ~10 s),
; while the multiboot option ROM reads the image through fw_cfg, which has
; no interrupt to miss.  No disk also means nothing to mark read-only.
;
; kvm_pvm quirk (lab notes): a 32-bit protected-mode IRET fails with "KVM
; internal error ... emulation failure".  This guest therefore NEVER executes
; IRET: interrupts are only enabled across `sti; hlt`, and the IRQ0 handler
; sends EOI, discards the interrupt frame (by reloading ESP) and jumps back
; to the main loop with IF=0 (interrupt gates clear IF).
;
; Run-time rate control: the main loop polls the i8042 (status port 0x64,
; data port 0x60).  Scan-code-set-1 make codes of the digit keys (what
; `virsh send-key DOM KEY_5` / QMP send-key deliver with the BIOS-default
; translation on) set  mult = 5 * digit  (key 0 stops dirtying) and echo the
; digit on COM1.  With an image built by mkimage.sh (1 page per burst and
; 256 bursts/s, i.e. mult == MiB/s) key d means 5*d MiB/s.
;
; PARAMETER BLOCK: fixed at offset 0x3E0 of the 1 KiB image (linear 0x7FE0
; once copied), 28 bytes of little-endian u32, then a u16 layout version:
;   0x3E0 magic   "MSDG"
;   0x3E4 start   first byte address dirtied (page aligned, >= 1 MiB)
;   0x3E8 end     end address, exclusive (page aligned, <= guest RAM)
;   0x3EC pages   pages dirtied per burst per unit of mult
;   0x3F0 ticks   TSC ticks between bursts (must be > 0)
;   0x3F4 mult    multiplier: pages per burst = pages * mult (0 = idle)
;   0x3F8 hb      heartbeat: print '.' every hb bursts (0 = off)
;   0x3FC version u16 = 2
; Dirty rate = pages * mult * 4096 * tsc_hz / ticks  bytes/s.

bits 32
org 0x7c00

LOAD     equ 0x00100000        ; where the multiboot loader puts the image
IDT      equ 0x1000            ; 48 gates * 8 bytes
DEADLINE equ 0x0600            ; u64 next TSC deadline
STACK    equ 0x7000
NVEC     equ 48
COM1     equ 0x3f8
MB_MAGIC equ 0x1badb002
MB_FLAGS equ 0x00010000        ; the address fields below are valid (a.out kludge)

; The dirtied range starts at 1 MiB, where the loader put the image: the
; image first copies itself below it, to the address it was assembled for.
start:
mb_header:                     ; must sit in the first 8 KiB, 4-byte aligned
        dd MB_MAGIC
        dd MB_FLAGS
        dd -(MB_MAGIC + MB_FLAGS)
        dd LOAD + (mb_header - $$)      ; header_addr
        dd LOAD                         ; load_addr
        dd LOAD + (image_end - $$)      ; load_end_addr
        dd LOAD + (image_end - $$)      ; bss_end_addr
        dd LOAD + (mb_entry - $$)       ; entry_addr
mb_entry:                      ; flat segments, IF=0, A20 on (multiboot spec)
        cld
        mov esi, LOAD
        mov edi, start
        mov ecx, (image_end - start) / 4
        rep movsd
        mov eax, setup
        jmp eax

setup:
        lgdt [gdtr]
        jmp 0x08:.cs
.cs:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, STACK

        ; PIC: ICW1..ICW4, vectors 0x20/0x28, only IRQ0 unmasked
        mov al, 0x11
        out 0x20, al
        out 0xa0, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x28
        out 0xa1, al
        mov al, 4
        out 0x21, al
        mov al, 2
        out 0xa1, al
        mov al, 1
        out 0x21, al
        out 0xa1, al
        mov al, 0xfe
        out 0x21, al
        mov al, 0xff
        out 0xa1, al

        ; PIT channel 0, mode 2, divisor 1193 (~1 kHz)
        mov al, 0x34
        out 0x43, al
        mov ax, 1193
        out 0x40, al
        mov al, ah
        out 0x40, al

        ; IDT: vectors 0-31 -> fatal, 32-47 -> tick (32-bit interrupt gates)
        mov edi, IDT
        xor ecx, ecx
.idt:
        mov eax, fatal
        cmp cl, 32
        jb .exc
        mov eax, tick
.exc:
        mov [edi], ax                   ; offset 15:0
        mov word [edi + 2], 0x08        ; selector
        mov word [edi + 4], 0x8e00      ; present, DPL0, 32-bit interrupt gate
        shr eax, 16
        mov [edi + 6], ax               ; offset 31:16
        add edi, 8
        inc ecx
        cmp ecx, NVEC
        jb .idt
        lidt [idtr]

pm:

        ; warm-up pass: touch every page of the range once
        mov edi, [p_start]
.warm:
        inc byte [edi]
        add edi, 4096
        cmp edi, [p_end]
        jb .warm

        mov al, 10              ; end SeaBIOS's "Booting from ROM.." line (-nographic)
        call putc
        mov al, 'R'
        call putc
        mov al, 10
        call putc

        mov edi, [p_start]      ; EDI = dirty cursor (never clobbered)
        mov ebp, [p_hb]         ; EBP = heartbeat countdown
        rdtsc
        mov [DEADLINE], eax
        mov [DEADLINE+4], edx

; Main loop.  Always entered with IF=0; the IRQ0 handler jumps here.
main:
        mov esp, STACK
        ; --- keyboard: digit keys change the multiplier ---
        in al, 0x64
        test al, 1
        jz .nokey
        mov ah, al
        in al, 0x60
        test ah, 0x20           ; byte from the aux (mouse) port: ignore
        jnz .nokey
        sub al, 2               ; set-1 make codes: '1'..'9' = 2..10, '0' = 11
        cmp al, 10
        jae .nokey              ; break codes and other keys land here
        inc al                  ; 1..9, 10 for '0'
        cmp al, 10
        jb .digit
        xor eax, eax
.digit:
        movzx eax, al
        push eax
        add al, '0'
        call putc
        pop eax
        imul eax, eax, 5
        mov [p_mult], eax
.nokey:
        ; --- TSC deadline ---
        rdtsc
        sub eax, [DEADLINE]
        sbb edx, [DEADLINE+4]
        js sleep                ; now < deadline
        jnz .resync             ; >= 2^32 ticks late
        shr eax, 4
        cmp eax, [p_ticks]
        jb .ontime              ; less than 16 periods late: catch up
.resync:                        ; far behind (e.g. was paused): restart pacing
        rdtsc
        mov [DEADLINE], eax
        mov [DEADLINE+4], edx
.ontime:
        mov eax, [p_ticks]
        add [DEADLINE], eax
        adc dword [DEADLINE+4], 0

        ; --- burst: dirty pages*mult pages ---
        mov ecx, [p_pages]
        imul ecx, [p_mult]
        jecxz .hb
.burst:
        inc byte [edi]
        add edi, 4096
        cmp edi, [p_end]
        jb .next
        mov edi, [p_start]
.next:
        loop .burst
.hb:
        cmp dword [p_hb], 0
        je main
        dec ebp
        jnz main
        mov ebp, [p_hb]
        mov al, '.'
        call putc
        jmp main

sleep:
        sti
        hlt                     ; woken by IRQ0 -> tick -> main
        cli
        jmp main

tick:                           ; IRQ0 (and any other PIC vector)
        mov al, 0x20
        out 0x20, al            ; EOI; frame is dropped by main (mov esp)
        jmp main

fatal:                          ; CPU exception: report and stop
        mov al, '!'
        call putc
.stop:
        cli
        hlt
        jmp .stop

; putc: AL -> COM1 (clobbers DX)
putc:
        push eax
        mov dx, COM1 + 5
.wait:
        in al, dx
        test al, 0x20
        jz .wait
        pop eax
        mov dl, COM1 & 0xff
        out dx, al
        ret

gdt:                            ; the null descriptor slot holds the GDTR
gdtr:
        dw 3*8 - 1
        dd gdt
        dw 0
        dq 0x00cf9a000000ffff   ; 0x08 code, flat, 32-bit
        dq 0x00cf92000000ffff   ; 0x10 data, flat
idtr:
        dw NVEC*8 - 1
        dd IDT

        times 0x3e0 - ($ - $$) db 0
params:
p_magic: db 'MSDG'
p_start: dd 0x00100000          ; 1 MiB
p_end:   dd 0x0ff00000          ; 255 MiB
p_pages: dd 1
p_ticks: dd 8984367             ; 2.3 GHz / 256 (mkimage.sh overwrites)
p_mult:  dd 0
p_hb:    dd 0
p_ver:   dw 2
        dw 0
image_end:
